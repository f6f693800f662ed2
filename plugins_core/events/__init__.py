"""Events: the catalog of what the product raises, the outbox, and dispatch to plugins."""
