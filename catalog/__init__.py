"""A small demo app standing for a team's own Django app: the demo client loads the fake
API's products into `catalog.Product` through a destination (docs/concepts/destinations.md)."""
