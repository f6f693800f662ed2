"""Everything this plugin does is in webhooks/notifications.yaml and its transform."""
