"""Notes, notebooks, tags, search, history and the maps derived from them (links, outline,
templates): the `Vault` the faces use. It imports storage, sealing and the primitives.
"""
