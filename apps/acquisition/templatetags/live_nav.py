"""``{% may_use_live user as flag %}``: whether the top bar links the Live page."""

from __future__ import annotations

from typing import Any

from django import template

from apps.acquisition.pages import may_use_live as _may_use_live

register = template.Library()


@register.simple_tag
def may_use_live(user: Any) -> bool:
    return _may_use_live(user)
