"""Who may see the dashboard: anyone who can reach it, unless a token is set.

``pipeline dashboard --token`` (or ``$PIPELINE_DASHBOARD_TOKEN``) makes every page ask for the
token first (or take it from the link: ``?token=...``).  It is a shared secret for a small
team on a private network, compared in constant time; anything exposed further belongs behind
a reverse proxy with real authentication and TLS (README, "Dashboard").
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

ENV_TOKEN = "PIPELINE_DASHBOARD_TOKEN"


def allowed() -> bool:
    """True when no token is configured or this session has shown it; otherwise asks for it."""
    expected = os.environ.get(ENV_TOKEN, "")
    if not expected:
        return True
    if st.session_state.get("_token_ok"):
        return True
    from_link = st.query_params.get("token", "")
    given = from_link or st.text_input("Access token", type="password")
    if given and hmac.compare_digest(str(given).encode(), expected.encode()):
        st.session_state["_token_ok"] = True
        if from_link:
            st.query_params.pop("token", None)  # do not leave it in the address bar
            return True
        st.rerun()  # draw the page without the token field
    if from_link:
        st.query_params.pop("token", None)
    if given:
        st.error("Wrong token.")
    return False
