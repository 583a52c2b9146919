"""Lab records: samples, starting materials, cells and equipment, with their history."""
