"""The demo handler: the bundled fake API's product list, ready to run with no config."""

from .rest import RestPageNumberHandler


class DemoProductsHandler(RestPageNumberHandler):
    name = "demo_products"
    label = "Demo: fake API products"
    default_config = {
        **RestPageNumberHandler.default_config,
        "path": "/products",
        "page_size": 100,
    }
