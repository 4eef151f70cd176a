"""``roomsync demo``: the whole product on simulated Exchange servers, for a first look.

The simulator's distribution ships the demo (the core knows neither the simulator nor any
plugin) and adds it to the command line through ``roomsync_register_commands``:
:mod:`.command` is the click command, :mod:`.generations` the generations shown and which of
them are installed, :mod:`.organisation` what a generation's server holds and answers,
:mod:`.ews` and :mod:`.graph` the servers and the Outlook of each protocol, :mod:`.scenario`
the steps shown.
"""
