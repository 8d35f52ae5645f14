"""Django guards: :class:`FeatureMiddleware` maps URL names or paths to features, and
:func:`require_feature` guards one view (function or class). Both answer as the Rust
guard does (see ``caixa_client._guard``) and leave the answer as
``request.caixa_access``. Settings: ``settings.CAIXA`` (see ``caixa_client.django.settings``)."""

from .decorators import require_feature
from .middleware import FeatureMiddleware

__all__ = ["FeatureMiddleware", "require_feature"]
