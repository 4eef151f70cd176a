"""What only the EWS protocol needs: its operations, restrictions, NTLM, schema validation and
streaming/pull notifications.

The organisation itself (the store, its items in EWS's XML shape that Graph converts, the request
pipeline, dialects, faults) is shared by both protocols and stays at the package's top; Microsoft
Graph's face is :mod:`roomsync_sim.graph`.
"""
