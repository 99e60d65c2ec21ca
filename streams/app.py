"""The Faust app for ``faust -A streams.app worker``: settings from the environment, all roles.

``streamscore worker`` builds the same app with chosen roles and models.
"""

from streams.pipeline.worker import create_app
from streams.settings import load_settings

app = create_app(load_settings())
