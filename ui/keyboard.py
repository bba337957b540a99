"""Keyboard shortcuts: the key of each action, the help that lists them, and the browser's half of three of them.

The seed's web UI had shortcuts to upload a file, start the analysis, view the
results, download the report and toggle dark mode. Here each is a Streamlit
button's ``shortcut=``: single keys, as Streamlit's own R (rerun) and C (clear
caches), because the seed's Ctrl+U, Ctrl+R and Ctrl+T belong to the browser
(view source, reload, new tab) and never reach a page. Streamlit ignores
single keys while the user types in a text field, so they never eat a letter.

A button runs Python on the server, but opening the file chooser, scrolling to
the verdict and switching the theme happen in the browser: for those the button
asks for a browser action (:func:`request_browser_action`), and the router
passes it, once, to a few lines of JavaScript mounted at the end of every run
(:func:`browser_actions`, a custom component v2 in the page itself, no iframe)
that click or scroll what the user would have.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Shortcut:
    keys: str  # as ``st.button(shortcut=...)`` takes it
    action: str  # what pressing it does, as a sentence a first-time user understands (the help's second column)
    instead_of: str = ""  # the seed's key, where the browser keeps that one for itself (the help's footnote)
    browser_use: str = ""  # what the browser does with ``instead_of``


UPLOAD = Shortcut("U", "Opens the file chooser, to analyse a video or photo of your own (Analyze page).", "Ctrl+U",
                  "view the page's source")
ANALYZE = Shortcut("Enter", "Starts the analysis of the chosen video (Analyze and Batch pages).")
RESULTS = Shortcut("V", "Scrolls down to the verdict of the analysis shown (Analyze page).", "Ctrl+R",
                   "reload the page")
REPORT = Shortcut("D", "Downloads the analysis shown as an HTML report that opens offline (Analyze page).")
JSON_RESULT = Shortcut("J", "Downloads the analysis shown as JSON, for other programs (Analyze page).")
THEME = Shortcut("T", "Switches between the light and the dark theme (every page).", "Ctrl+T", "open a new tab")
SHORTCUTS = (UPLOAD, ANALYZE, RESULTS, REPORT, JSON_RESULT, THEME)

_PENDING_KEY = "_browser_action"  # the action asked for in this run, until the router mounts it

# Streamlit calls this whenever ``data`` changes and again when the component re-renders (a theme
# change re-renders every component), so each action carries an id and runs once.
_JS = """
export default function ({ data }) {
  if (!data || !data.action) return;
  const done = (window.__dflensActionsDone = window.__dflensActionsDone || new Set());
  if (done.has(data.id)) return;
  done.add(data.id);
  const find = (selector) => new Promise((resolve) => {
    const look = (left) => {
      const el = document.querySelector(selector);
      if (el || left <= 0) resolve(el); else setTimeout(() => look(left - 1), 50);
    };
    look(40);
  });
  const isDark = () => {
    const bg = getComputedStyle(document.querySelector('[data-testid="stApp"]')).backgroundColor;
    const [r, g, b] = (bg.match(/\\d+/g) || [255, 255, 255]).map(Number);
    return 0.299 * r + 0.587 * g + 0.114 * b < 128;
  };
  (async () => {
    if (data.action === "scroll") {
      const el = await find(data.target);
      if (el) el.scrollIntoView({ behavior: "instant", block: "start" });
    } else if (data.action === "click") {
      // The key press that started this is still a user activation, so a file input opens its chooser;
      // focus is left where it was, so the next shortcut (Enter) is not taken as typing into it.
      const el = await find(data.target);
      if (el) { el.click(); el.blur(); }
    } else if (data.action === "theme") {
      // Streamlit's own settings menu switches the theme (and remembers the choice for the next visit).
      const menu = await find('[data-testid="stMainMenuButton"]');
      if (!menu) return;
      const wasDark = isDark();
      const target = `[data-testid="stMainMenuItem-theme-${wasDark ? "Light" : "Dark"}"]`;
      menu.click();
      const item = await find(target);
      if (!item) return;
      item.click();
      // The menu stays open after a theme is picked: close it as a user would, once the new theme is
      // drawn (closing it earlier, on a slow machine, could close it before the pick took effect).
      for (let left = 40; left > 0 && isDark() === wasDark; left--) await new Promise((r) => setTimeout(r, 50));
      if (document.querySelector(target)) menu.click();
    }
  })();
}
"""


def request_browser_action(action: str, target: str = "") -> None:
    """Ask for a browser action at the end of this run: ``"scroll"`` to or ``"click"`` the element ``target``
    (a CSS selector), or ``"theme"`` to switch between the light and the dark theme."""
    # A new id per key press: pressing a key twice acts twice.
    st.session_state[_PENDING_KEY] = {"action": action, "target": target, "id": secrets.token_hex(8)}


def browser_actions() -> None:
    """Mount the browser-action component, with the action asked for in this run, if any.

    Called by the router after the page, so an action's target is drawn by then. Mounted on every
    run, even without an action: the browser loads its script once, before the first key press.
    """
    # Registered on every run, as Streamlit's examples do (see ui/webcam_recorder.py).
    component = st.components.v2.component("dflens_browser_actions", js=_JS)
    component(key="browser_actions", data=st.session_state.pop(_PENDING_KEY, None) or {})


def theme_switch() -> None:
    """The sidebar's dark-mode toggle (shortcut T), on every page."""
    if st.sidebar.button("Toggle dark mode", key="theme_toggle", icon=":material/dark_mode:", type="tertiary",
                         shortcut=THEME.keys, help="Switch between the light and the dark theme."):
        request_browser_action("theme")


def shortcuts_table() -> str:
    """The help's table (Markdown): a header on each column, and each key's action as a sentence."""
    rows = [f"| `{s.keys}` | {s.action} |" for s in SHORTCUTS]
    return "\n".join(["| Press | What happens |", "|---|---|", *rows])


def browser_keys_note() -> str:
    """Why the keys are single letters: the seed's Ctrl combinations belong to the browser."""
    kept = [s for s in SHORTCUTS if s.instead_of]
    uses = ", ".join(f"{s.instead_of} to {s.browser_use}" for s in kept)
    return (f"Keys work when the cursor is not in a text field. They are single letters because the browser keeps "
            f"the Ctrl combinations for itself ({uses}).")


def shortcuts_help() -> None:
    """A small "Keyboard shortcuts" popover listing every shortcut."""
    with st.popover("Keyboard shortcuts", icon=":material/keyboard:"):
        st.markdown(shortcuts_table())
        st.caption(browser_keys_note())
