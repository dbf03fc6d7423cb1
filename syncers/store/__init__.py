"""The SQL both loaders share — pipeline.load for the records table and destinations.load for
a model: the failed records kept per (client, record key) (`failed`) and the cursor that sends
parameters separately (`cursor`). It lies below both loaders so that neither imports the other
upward; it imports only syncers.models and Django."""
