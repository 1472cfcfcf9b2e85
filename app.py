"""The Chalice app: wiring only. Routes, event handlers and steps live in chalicelib/."""
from chalice.app import Chalice

from chalicelib.api import (
                            accounts,
                            console,
                            dcs,
                            exports,
                            images,
                            imgapi,
                            node_images,
                            openapi,
                            ping,
                            snapshots,
                            tasks,
                            uploads,
                            users,
)
from chalicelib.events import maintenance, platform, workflow
from chalicelib.logs import configure_logging
from chalicelib.steps import handlers as steps

app = Chalice(app_name="imageapi")
configure_logging(app)

app.register_blueprint(ping.bp)
app.register_blueprint(images.bp)
app.register_blueprint(snapshots.bp)
app.register_blueprint(tasks.bp)
app.register_blueprint(node_images.bp)
app.register_blueprint(imgapi.bp)
app.register_blueprint(exports.bp)
app.register_blueprint(uploads.bp)
app.register_blueprint(openapi.bp)
app.register_blueprint(accounts.bp)
app.register_blueprint(console.bp)
app.register_blueprint(users.bp)
app.register_blueprint(dcs.bp)
app.register_blueprint(platform.bp)
app.register_blueprint(workflow.bp)
app.register_blueprint(maintenance.bp)
app.register_blueprint(steps.bp)
