"""Messages to persons (conflicts, failures) and the notifiers that deliver them."""
