"""roomsync-exchange-simulator: an Exchange organisation that speaks EWS, for tests and demos."""
