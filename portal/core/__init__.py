"""The domain: models and services. Nothing here touches the request object."""
