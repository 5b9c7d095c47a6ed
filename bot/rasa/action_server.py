"""The action server (rasa_sdk's Sanic app), answering only Rasa: `python -m bot.rasa.action_server --port N`.

`rasa run actions` runs any action for anything that reaches its port (and allows CORS from any origin). Here every
request but /health must carry the token Rasa sends: the `token:` of endpoints.yml's action_endpoint, which Rasa 3.6
adds to each action call as the `token` query parameter (rasa.utils.endpoints.EndpointConfig.combine_parameters).
The token is derived from SECRET_KEY (bot.rasa.endpoints.action_token); the server listens on 127.0.0.1 by default."""

from __future__ import annotations

import argparse
import hmac
import logging
import os

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core.settings import load_settings
from bot.rasa.endpoints import action_token

log = logging.getLogger(__name__)


def guarded_app(token: str, actions: str = "actions") -> Sanic:
    """rasa_sdk's app with the token check in front of every route except the health check."""
    app = create_app(actions, cors_origins=None)

    @app.middleware("request")
    async def require_token(request: Request) -> HTTPResponse | None:
        if request.path == "/health":
            return None
        sent = request.args.get("token", "")
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return response.json({"error": "forbidden", "message": "only Rasa may call the actions"}, status=403)
        return None

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", default="actions")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s actions %(levelname)s %(name)s: %(message)s")
    app = guarded_app(action_token(load_settings()), args.actions)
    host = os.environ.get("SANIC_HOST", "127.0.0.1")
    log.info("action server on http://%s:%s (token required)", host, args.port)
    app.run(host=host, port=args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
