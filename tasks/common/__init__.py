"""What every task shares: errors, tags, settings, models, AWS clients and observability."""
