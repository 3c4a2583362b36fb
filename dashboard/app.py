"""The dashboard: ``pipeline dashboard`` runs ``streamlit run dashboard/app.py -- --db FILE``.

Pages (chosen in the sidebar, all carried in the URL): overview, incidents,
incident, data health.  The store is opened read-only, briefly, per cached
query; see ``dashboard/data.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # `streamlit run dashboard/app.py` from a source tree
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

from dashboard import access, views  # noqa: E402

st.set_page_config(page_title="dropout-pipeline", page_icon="🔌", layout="wide")
if access.allowed():
    views.main()
