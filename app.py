"""The Chalice app: wiring only. Routes, event handlers and steps live in chalicelib/."""
from chalice import Chalice

from chalicelib.api import images, ping, snapshots
from chalicelib.events import platform
from chalicelib.logs import configure_logging

app = Chalice(app_name="imageapi")
configure_logging(app)

app.register_blueprint(ping.bp)
app.register_blueprint(images.bp)
app.register_blueprint(snapshots.bp)
app.register_blueprint(platform.bp)
