"""File sources: browsing remote data through a cached listing, copying files into the
store, keeping those copies fresh."""
