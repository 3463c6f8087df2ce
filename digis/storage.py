"""Static files in production: whitenoise's compressed manifest storage, with ES module imports rewritten.

Pages load `static/js/realtime.js` through `{% static %}` (hashed) while the
page modules import it as "/static/js/realtime.js" (not hashed): two URLs,
so the browser ran two copies of the module and every tab opened two
sockets. Django rewrites `import ... from "..."` to the hashed name when
asked (support_js_module_import_aggregation), so every import names the same
file the page does.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
