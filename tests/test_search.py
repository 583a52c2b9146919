"""Full-text search (GET /items?q=...) on each database's own index."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.app import create_app
from labvault.auth.models import User
from labvault.db import begin_write, utcnow
from labvault.items import lists, service
from labvault.items.models import Item
from labvault.items.texts import compounds
from labvault.models import metadata
from labvault.search import engines, mariadb, ranking
from labvault.search.ranking import newest_matches, newest_ranked, order_by_relevance
from labvault.search.service import apply_search
from labvault.users.service import create_user
from labvault.web.session import get_session

from tests.conftest import check_mroonga, emptied_database_url, server_database
from tests.plugin_dists import app_settings


def create(client: Any, user: Any, **fields: Any) -> dict[str, Any]:
    response = client.post("/items", json={"type": "sample", **fields}, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = {**response.json, "etag": response.headers["ETag"]}
    return body


def material(client: Any, user: Any, name: str, **fields: Any) -> dict[str, Any]:
    return create(client, user, type="starting_material", name=name, **fields)


def search_response(client: Any, user: Any, q: str, **params: Any) -> Any:
    return client.get(
        "/items", query_string={"q": q, "page_size": 100, **params}, headers=user.headers
    )


def found(client: Any, user: Any, q: str, **params: Any) -> list[str]:
    """Refcodes of the items q finds, best first."""
    response = search_response(client, user, q, **params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [entry["refcode"] for entry in response.json]


def refs(*items: dict[str, Any]) -> set[str]:
    return {item["refcode"] for item in items}


@pytest.fixture(autouse=True)
def _refcodes_of_q_x_and_z(monkeypatch):
    # Every item's refcode and item_id are words too: keep their letters away from the
    # short words these tests search for, or "li" would also find an item "test:LIXQZE".
    monkeypatch.setattr(service, "REFCODE_LETTERS", "QXZ")


#: MariaDB twice: with Mroonga (when the server has it; CI requires it) and InnoDB FULLTEXT.
DATABASES = ["sqlite", "mariadb", "mariadb-innodb", "postgresql"]


@pytest.fixture(params=DATABASES)
def labvault_database_url(request, tmp_path_factory, _server_databases, _databases) -> str:
    """The query language is the same on every database and engine: every test of this
    module runs on each."""
    return emptied_database_url(request.param, tmp_path_factory, _server_databases, _databases)


@pytest.fixture
def client(shared_app: Any) -> Any:
    return shared_app.test_client()


@pytest.fixture
def alice(shared_app: Any, labvault_make_user: Any) -> Any:
    return labvault_make_user(shared_app)


def test_words_match_as_prefixes_and_every_word_is_needed(client, alice):
    ethanol = material(client, alice, "Ethanol absolute")
    methanol = material(client, alice, "Methanol")
    acetate = material(client, alice, "Ethyl acetate")

    assert found(client, alice, "ethan") == [ethanol["refcode"]]
    assert set(found(client, alice, "eth")) == refs(ethanol, acetate)
    assert found(client, alice, "ETHANOL") == [ethanol["refcode"]]
    assert found(client, alice, "abs eth") == [ethanol["refcode"]]
    assert found(client, alice, "ethanol acetate") == []
    assert found(client, alice, "thanol") == []  # words match from their start
    assert found(client, alice, "methanol") == [methanol["refcode"]]


def test_identifiers_and_type_fields_are_found(client, alice, subtests):
    ethanol = material(
        client,
        alice,
        "Ethanol",
        cas="64-17-5",
        barcode="BC-000123",
        supplier="Sigma-Aldrich",
        location="Cabinet B3, shelf 2",
    )
    water = material(client, alice, "Water", cas="7732-18-5", supplier="Merck")
    lfp = create(
        client,
        alice,
        name="Cathode batch",
        chemical_formula="LiFePO4",
        description="Calcined at 700 °C under argon.",
    )
    refcode = ethanol["refcode"]

    for q in (
        refcode,
        refcode.lower(),
        refcode.split(":")[1],
        ethanol["item_id"],
        "64-17-5",
        "BC-000123",
        "000123",
        "sigma",
        "aldrich",
        "sigma-aldrich",
        "cabinet b3",
        "shelf 2",
    ):
        with subtests.test(q=q):
            assert found(client, alice, q) == [refcode], q
    assert found(client, alice, "7732-18-5") == [water["refcode"]]
    assert found(client, alice, "merck") == [water["refcode"]]
    for q in ("LiFePO4", "lifepo", "calcined argon", "700"):
        with subtests.test(q=q):
            assert found(client, alice, q) == [lfp["refcode"]], q


def test_short_words_match_too(client, alice):
    li = material(client, alice, "Li metal foil")
    lithium = material(client, alice, "Lithium chloride")
    material(client, alice, "Sodium chloride", location="B1")

    assert set(found(client, alice, "li")) == refs(li, lithium)
    assert found(client, alice, "li foil") == [li["refcode"]]
    assert found(client, alice, "l chlor") == [lithium["refcode"]]
    # a stopword of MariaDB's index is still a word
    the = material(client, alice, "The standard")
    assert found(client, alice, "the") == [the["refcode"]]
    assert found(client, alice, "THE stand") == [the["refcode"]]
    assert found(client, alice, "Li the") == []


def test_title_matches_rank_above_body_matches(client, alice):
    in_name = material(client, alice, "Lithium hexafluorophosphate")
    in_description = material(client, alice, "Electrolyte salt", description="lithium, dried")
    in_supplier = material(client, alice, "Carbonate", supplier="Lithium Supplies Ltd")

    # the two body matches are newer, which would list them first without a q
    assert found(client, alice, "lithium")[0] == in_name["refcode"]
    assert set(found(client, alice, "lithium")) == refs(in_name, in_description, in_supplier)
    assert found(client, alice, "lith", sort="relevance")[0] == in_name["refcode"]
    # other sort orders still only list the matches
    by_name = found(client, alice, "lithium", sort="name")
    assert by_name == [in_supplier["refcode"], in_description["refcode"], in_name["refcode"]]


def test_the_total_counts_every_match(client, alice):
    for n in range(5):
        material(client, alice, f"Solvent {n}")
    material(client, alice, "Salt")
    response = client.get(
        "/items", query_string={"q": "solv", "page_size": 2}, headers=alice.headers
    )
    assert response.status_code == 200
    assert len(response.json) == 2
    assert json.loads(response.headers["X-Pagination"])["total"] == 5


def test_a_search_ranks_its_newest_matches(client, alice, monkeypatch):
    """Past SEARCH_WINDOW matches only the newest are ranked; exact=true ranks them all."""
    monkeypatch.setattr(ranking, "SEARCH_WINDOW", 3)
    best = material(client, alice, "Solvent", description="solvent solvent")["refcode"]
    newer = [
        material(client, alice, f"Bottle {n}", description="solvent")["refcode"] for n in range(4)
    ]
    material(client, alice, "Salt")

    def page(**params: Any) -> tuple[list[str], dict[str, Any]]:
        response = search_response(client, alice, "solv", **params)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [e["refcode"] for e in response.json], json.loads(response.headers["X-Pagination"])

    rows, meta = page()
    assert sorted(rows) == sorted(newer[1:]) and best not in rows
    assert (meta["total"], meta["total_exact"]) == (3, False) and "next_page" not in meta
    rows, meta = page(page_size=2, page=2)
    assert len(rows) == 1 and (meta["total"], meta["total_exact"]) == (3, False)
    assert page(page_size=2, page=3)[0] == []
    rows, meta = page(exact="true")
    assert rows[0] == best and sorted(rows[1:]) == sorted(newer)
    assert (meta["total"], meta["total_exact"]) == (5, True)


def test_changes_are_found_and_old_text_is_not(client, alice):
    item = material(client, alice, "Acetone", item_id="bottle-1")
    response = client.patch(
        f"/items/{item['refcode']}",
        json={"name": "Propanone", "supplier": "Carl Roth"},
        headers={**alice.headers, "If-Match": item["etag"]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)

    assert found(client, alice, "acetone") == []
    assert found(client, alice, "propanone") == [item["refcode"]]
    assert found(client, alice, "roth") == [item["refcode"]]

    response = client.patch(
        f"/items/{item['refcode']}",
        json={"item_id": "solvent-7"},
        headers={**alice.headers, "If-Match": response.headers["ETag"]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert found(client, alice, "solvent-7") == [item["refcode"]]
    assert found(client, alice, "bottle") == []


def test_trashed_items_are_not_found_until_restored(client, alice):
    item = material(client, alice, "Toluene")
    response = client.delete(
        f"/items/{item['refcode']}", headers={**alice.headers, "If-Match": item["etag"]}
    )
    assert response.status_code == 204
    assert found(client, alice, "toluene") == []

    response = client.post(f"/trash/{item['refcode']}/restore", headers=alice.headers)
    assert response.status_code == 200
    assert found(client, alice, "toluene") == [item["refcode"]]


def test_items_the_user_may_not_read_are_not_found(client, alice, shared_app, labvault_make_user):
    bob = labvault_make_user(shared_app)
    secret = create(client, bob, name="Perovskite film", description="unpublished")
    shared = material(client, bob, "Perovskite precursor")
    mine = create(client, alice, name="Perovskite crystal")

    assert set(found(client, alice, "perovskite")) == refs(shared, mine)
    assert found(client, alice, "unpublished") == []
    assert set(found(client, bob, "perovskite")) == refs(secret, shared)
    manager = labvault_make_user(shared_app, role="manager")
    assert set(found(client, manager, "perovskite")) == refs(secret, shared, mine)


#: q -> whether it finds "Ethanol absolute" (None: differs by database)
HOSTILE_QUERIES = {
    '"ethanol': True,
    'ethanol"': True,
    "'ethanol'": True,
    "ethanol*": True,
    "eth*nol": False,
    "-ethanol": True,
    "+ethanol": True,
    "~ethanol": True,
    "ethanol -water": False,
    "(ethanol": True,
    "ethanol)": True,
    "NEAR(ethanol absolute)": False,
    "ethanol AND absolute": False,
    "ethanol OR water": False,
    "NOT water": False,
    "ethanol:*": True,
    "ethanol:A": True,  # "a" starts "absolute"
    "ethanol:B": False,
    "search_title:ethanol": False,
    "{search_title}: ethanol": False,
    "^ethanol": True,
    "ethanol & !water | x": False,
    "ethanol <-> absolute": True,
    "ethanol@absolute": True,
    "ethanol\\": True,
    "50% ethanol": False,
    "ethanol_absolute": None,  # "_" joins words for MariaDB only
    "<b>ethanol</b>": False,  # "b" is a word too
    "ethanol'); DROP TABLE items; --": False,
    # letters and digits some parsers may not take for ones
    "ethanol \N{SUPERSCRIPT TWO}": None,
    "\N{CIRCLED DIGIT ONE}": None,
    "\N{ARABIC-INDIC DIGIT THREE}": None,
    "\N{CJK UNIFIED IDEOGRAPH-6C34}": None,
    "\N{LATIN SMALL LIGATURE FI}": None,
    "\N{LATIN CAPITAL LETTER DZ WITH CARON}": None,
    "e\N{COMBINING ACUTE ACCENT}thanol": None,
}


def test_query_syntax_in_q_is_only_text(client, alice, subtests):
    ethanol = material(client, alice, "Ethanol absolute")
    material(client, alice, "Water")
    for q, finds in HOSTILE_QUERIES.items():
        with subtests.test(q=q):
            response = search_response(client, alice, q)
            assert response.status_code == 200, (q, response.get_data(as_text=True))
            if finds is not None:
                refcodes = [e["refcode"] for e in response.json]
                assert (refcodes == [ethanol["refcode"]]) is finds, q


def test_q_without_words_finds_nothing(client, alice, subtests):
    material(client, alice, "Ethanol")
    for q in ["*", '"', "()", "-+~<>", "'", "%_", ":*", "\\", " "]:
        with subtests.test(q=q):
            response = search_response(client, alice, q)
            assert response.status_code == 200, (q, response.get_data(as_text=True))
            assert response.json == [], q


def test_q_is_at_most_200_characters(client, alice):
    item = material(client, alice, "Ethanol")
    assert search_response(client, alice, "e" * 201).status_code == 422
    assert search_response(client, alice, "").status_code == 422
    assert found(client, alice, "ethanol" + " " * 193) == [item["refcode"]]
    assert found(client, alice, "ethanol " + "e" * 150) == []  # longer than InnoDB indexes
    many_words = " ".join(["e"] * 96 + ["ethanol"])
    assert len(many_words) <= 200
    assert found(client, alice, many_words) == [item["refcode"]]
    assert found(client, alice, "w " * 100) == []


ALPHA = "\N{GREEK SMALL LETTER ALPHA}"


def test_unicode_words(client, alice, subtests):
    item = material(client, alice, "Ångström standard", description=f"Größe: 5 µm, {ALPHA}-Fe2O3")
    other = material(client, alice, "Angle grinder")

    for q in ("ångström", "ÅNGSTRÖM", "Ångst", "A\u030angström", "größe", ALPHA, "fe2o3", "µm"):
        with subtests.test(q=q):
            assert found(client, alice, q) == [item["refcode"]], q
    assert set(found(client, alice, "ang")) >= refs(other)


def test_other_scripts_and_emoji(client, alice, subtests):
    sample = create(client, alice, name="試料 Образец 🔋 cell", description="שלום 12 ✓")
    other = create(client, alice, name="試験 plan")

    for q, expected in (
        ("試料", refs(sample)),
        ("試", refs(sample, other)),
        ("образец", refs(sample)),
        ("ОБРАЗ", refs(sample)),
        ("🔋 cell", refs(sample)),  # the emoji is no word; "cell" finds it
        ("שלום", refs(sample)),
        ("試料 plan", set()),
    ):
        with subtests.test(q=q):
            assert set(found(client, alice, q)) == expected, q
    assert found(client, alice, "🔋") == []  # no letters or digits: nothing


# --- the indexes are used -------------------------------------------------------------


def _plan(session: Any, query: sa.Select[Any]) -> str:
    bind = session.get_bind()
    sql = str(query.compile(bind, compile_kwargs={"literal_binds": True}))
    dialect = bind.dialect.name
    if dialect == "sqlite":
        rows = session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)).all()
        return "\n".join(str(row[-1]) for row in rows)
    if dialect == "postgresql":
        # reading a few thousand stored vectors is cheaper than the index: ask for the plan
        # the planner picks once the table is large
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        rows = session.execute(sa.text("EXPLAIN " + sql)).all()
        return "\n".join(row[0] for row in rows)
    result = session.execute(sa.text("EXPLAIN " + sql))
    return "\n".join(json.dumps(dict(row._mapping), default=str) for row in result)


def _seed(session: Any, user_id: int, count: int) -> None:
    """``count`` starting materials, written as the service would but in bulk (and
    analyzed, as a database that grew to that size would be)."""
    begin_write(session)
    now = utcnow()
    rows = []
    for n in range(count):
        refcode = f"seed:{n:06d}"
        name = f"Chemical {n}"
        rows.append(
            {
                "refcode": refcode,
                "item_id": f"seed-{n:06d}",
                "type": "starting_material",
                "name": name,
                "description": f"Shelf {n % 50}",
                "status": "available",
                "fields": {},
                "search_title": f"{name} seed-{n:06d} {refcode} {compounds(f'seed-{n:06d}')}",
                "search_body": f"Shelf {n % 50}",
                "created_by_id": user_id,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
    session.execute(sa.insert(Item), rows)
    session.commit()
    analyze = {"postgresql": "ANALYZE items", "sqlite": "ANALYZE"}
    session.execute(sa.text(analyze.get(session.get_bind().dialect.name, "ANALYZE TABLE items")))
    session.commit()


@pytest.fixture(scope="module", params=DATABASES)
def seeded_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An app on a database of its own, seeded once with starting materials for the
    query plan tests of this module (which only read)."""
    kind = request.param
    folder = tmp_path_factory.mktemp(f"seeded-{kind}")
    database = None
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'labvault.db'}"
    else:
        database = server_database(kind)  # skips, or fails where it is required
        url = database.url
    app = create_app(app_settings(folder, DATABASE_URL=url))
    try:
        metadata.create_all(app.extensions["labvault"].database.engine)
        with app.app_context():
            session = get_session()
            seeder = create_user(session, "seeder@lab.example")
            # PostgreSQL estimates a prefix lookup in the GIN index ("chem:*" matches every
            # row) dearer than a bitmap of a small table's live rows, even with
            # enable_seqscan off; in a freshly filled table it takes the index from about
            # 40,000 rows (at 20,000 it did only in a table bloated by earlier tests)
            _seed(session, seeder.id, 40_000 if kind == "postgresql" else 2000)
            if kind == "mariadb":
                check_mroonga(url)
                mariadb.ensure(app.extensions["labvault"].database.engine)
            if kind == "mariadb-innodb":
                # InnoDB keeps the words of new rows in a cache that a background thread
                # moves into the index; a search during that move missed the rows about
                # once in 40 runs (while the other worker kept the server busy). Rebuilt,
                # the index holds them all.
                session.execute(sa.text("OPTIMIZE TABLE items"))
                session.commit()
        yield app
    finally:
        app.extensions["labvault"].database.dispose()
        if database is not None:
            database.drop()


@pytest.mark.parametrize(
    ("role", "q", "ranking"),
    [
        ("user", "chem 1234", "all"),
        ("manager", "chem 1234", "all"),
        ("user", "chem 1234", "newest"),
        ("user", "seed-001234", "newest"),  # one word on MariaDB (seed_001234), indexed
    ],
)
def test_search_uses_the_full_text_index(seeded_app, labvault_make_user, role, q, ranking):
    user = labvault_make_user(seeded_app, role=role)
    with seeded_app.app_context():
        session = get_session()
        dialect = session.get_bind().dialect.name
        viewer = session.get(User, user.id)
        query, rank = apply_search(session, lists.filtered_query(viewer, {}), q)
        if ranking == "all":
            query = order_by_relevance(query, rank).limit(20)
            names = [item.name for item in session.scalars(query)]
        else:
            ids = newest_ranked(session, query, rank, 1000)
            names = [session.get(Item, item_id).name for item_id in ids]
            query = newest_matches(query, rank, 1000)
        assert names and all(name.startswith("Chemical 1234") for name in names), names
        plan = _plan(session, query)
        session.rollback()

    if dialect == "sqlite":
        assert "VIRTUAL TABLE INDEX" in plan and "items_fts" in plan, plan
        # each match looked up by its id: in the table, or in the index holding what
        # the list checks of it (type, deleted_at; migration 0020)
        by_id = r"SEARCH items USING (INTEGER PRIMARY KEY|COVERING INDEX ix_items_id_\w+ \(id=)"
        assert re.search(by_id, plan), plan
        assert not re.search(r"\bSCAN items\b", plan), plan
        assert "TEMP B-TREE" not in plan, plan  # FTS5 hands the matches over best first
    elif dialect == "postgresql":
        assert "Bitmap Index Scan on ft_items_search" in plan, plan
        assert "Seq Scan on items" not in plan, plan
    elif engines.engine_in_use(seeded_app.extensions["labvault"].database.engine) == "mroonga":
        rows = {row["table"]: row for row in map(json.loads, plan.splitlines())}
        assert rows["items_search"]["type"] == "fulltext", plan
        assert rows["items_search"]["key"] == "ft_items_search", plan
        assert rows["items"]["type"] == "eq_ref" and rows["items"]["key"] == "PRIMARY", plan
    else:
        items_rows = [json.loads(line) for line in plan.splitlines()]
        items_row = next(row for row in items_rows if row["table"] == "items")
        assert items_row["type"] == "fulltext", plan
        assert items_row["key"] == "ft_items_search", plan


def test_a_list_page_reads_its_rows_along_the_date_index(seeded_app, labvault_make_user):
    """An ordinary user's first page walks updated_at newest first, checking permissions
    row by row: nothing is sorted, and (MariaDB) nothing is materialized up front."""
    user = labvault_make_user(seeded_app)
    with seeded_app.app_context():
        session = get_session()
        dialect = session.get_bind().dialect.name
        viewer = session.get(User, user.id)
        query = lists.sorted_query(lists.filtered_query(viewer, {}), "-updated_at").limit(20)
        assert len(session.scalars(query).all()) == 20
        plan = _plan(session, query)
        session.rollback()
    if dialect == "sqlite":
        assert "ix_items_updated_at" in plan and "TEMP B-TREE" not in plan, plan
    elif dialect == "postgresql":  # then sorts equal dates by id (all equal here)
        assert "Index Scan Backward using ix_items_updated_at" in plan, plan
    else:
        rows = [json.loads(line) for line in plan.splitlines()]
        assert next(r for r in rows if r["table"] == "items")["key"] == "ix_items_updated_at"
        assert not [r for r in rows if r["select_type"] == "MATERIALIZED"], plan
