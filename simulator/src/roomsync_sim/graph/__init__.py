"""Microsoft Graph v1.0 as an Exchange Online tenant speaks it: the simulator's ``o365`` dialect.

The same simulator process serves one or more tenants (each with its own tenant id, domains,
app registrations and mailboxes) over the Microsoft identity platform's token endpoint and
Graph's calendar API, on top of the store and meetings code of the EWS dialects.

Entry points for tests (see ``roomsync_sim.testing``)::

    from roomsync_sim.testing import running_simulator

    with running_simulator("o365", seed, tls_dir=tmp_path) as sim:   # msal needs https
        sim.graph_url       # https://localhost:PORT/v1.0
        sim.login_url       # https://localhost:PORT  (authority: f"{sim.login_url}/{sim.tenant_id}")
        sim.ca_file         # the CA to trust (requests: verify=str(sim.ca_file))
        sim.tenant_id       # the first tenant's id (default 00000000-0000-0000-0000-00000000aaaa)
        sim.client_id       # its first app's client id (default 00000000-0000-0000-0000-00000000bbbb)
        sim.client_secret   # and that app's first secret (default "roomsync-sim-secret")
        sim.tenants         # every tenant: .id, .domains, .apps (client_id, secrets, ...)
        sim.access_token()  # a token minted in-process (tenant_id=, client_id= to choose)
        sim.register_redirect_uri("https://127.0.0.1:8443/addin/signin.html")  # auth code flow
        sim.simulator.counts            # requests by kind, e.g. counts["events.create"]
        sim.simulator.faults.add(...)   # the EWS dialects' fault switches apply to Graph too

    app = msal.ConfidentialClientApplication(
        sim.client_id,
        client_credential=sim.client_secret,
        authority=f"{sim.login_url}/{sim.tenant_id}",
        instance_discovery=False,   # or instance_discovery=sim.instance_discovery_url
        verify=str(sim.ca_file),
    )
    token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])

Without a seed (or with a seed that has no ``apps``) the tenant has the seed's mailboxes and one
app registration with the default ids above and access to every mailbox. Command line:
``roomsync sim serve --dialect o365 --tls``.

Modules: ``tenants`` (seed: tenants, apps, access policies), ``auth`` (token endpoint, OpenID
metadata, JWT checks, code redemption), ``authorize`` (the sign-in page of the authorization
code flow), ``service`` (the request pipeline: authentication, access, throttling,
faults, counts), ``router`` (URL routing), ``odata`` (query options and ``$filter``),
``convert`` and ``serialize`` (Graph JSON to and from the store's items), ``recurrence``,
``extprops``, ``timefmt``, ``ids``, ``errors``, and the APIs: ``events``, ``delta``,
``schedule``, ``batch``, ``subscriptions``, ``directory`` (places and groups); ``migrate``
exports and imports a mailbox's calendar between simulators.
"""
