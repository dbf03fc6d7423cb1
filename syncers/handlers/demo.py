"""The demo handler: the bundled fake API's product list, ready to run with no config."""

from .rest import RestHandler


class DemoProductsHandler(RestHandler):
    name = "demo_products"
    label = "Demo: fake API products"
    default_config = {
        **RestHandler.default_config,
        "path": "/products",
        "page_size": 100,
    }
