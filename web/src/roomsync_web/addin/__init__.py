"""roomsync's Outlook add-in: its manifest (and, served by the web app, its task pane)."""
