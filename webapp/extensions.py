"""Extension objects, created here and bound to the app in create_app."""

from flask_smorest import Api
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
api = Api()
