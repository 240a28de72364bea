"""Keys and sealing: the AEAD and KDF primitives, the JSON envelope, the key hierarchy, the sealed
snapshot. It imports only the primitives at the top of `vault` (errors, fsutil, safejson).
"""
