"""Ground-level modules every layer may import: money, time and the named vocabularies.

They import nothing from the shop, so models, services, payment adapters and templates can all use them.
"""
