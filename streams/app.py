"""The Faust app for ``faust -A streams.app worker``: settings from the environment, all roles.

``streamscore worker`` builds the same app with chosen roles and models.
"""

from streams.pipeline.worker import create_app
from streams.settings import load_settings
from streams.state_dir import check_state_dir

_settings = load_settings()
check_state_dir(_settings.state_dir)  # a read-only or full one: one clear error, not a crash
app = create_app(_settings)
