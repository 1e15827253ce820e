"""A test chart written here and packaged with the Helm SDK: templates, a subchart, a crds/ folder, a values schema.

Version 2 differs from version 1 in ways a reviewer must see: the Deployment's selector label and a new field in
the Widget CRD's schema.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gitops_engine.adapters.helmsdk import package_chart

_VALUES = """\
replicas: 1
size: 3
image:
  repository: nginx
  tag: "1.0"
password: chart-default
sub:
  note: from-parent
"""

_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"replicas": {"type": "integer", "minimum": 1}},
}

_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-values
data:
  values.json: {{ toJson (omit .Values "password") | quote }}
"""

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {SELECTOR: {{ .Release.Name }}}
  template:
    metadata:
      labels: {SELECTOR: {{ .Release.Name }}}
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"""

_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-auth
data:
  password: {{ .Values.password | b64enc }}
"""

_WIDGET = """\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}
spec:
  size: {{ .Values.size }}
"""

_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}EXTRA
"""

_SUB_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-sub
data:
  note: {{ .Values.note | quote }}
  region: {{ .Values.global.region | default "none" | quote }}
"""


def write_chart(root: Path, version: str) -> Path:
    """The `demo` chart at `version` (1.x: selector `app.kubernetes.io/name`; 2.x: `app`, CRD field `color`)."""
    chart = root / f"demo-src-{version}" / "demo"
    second = version.startswith("2")
    files = {
        "Chart.yaml": f"apiVersion: v2\nname: demo\nversion: {version}\n"
        "dependencies:\n  - name: sub\n    version: 0.1.0\n",
        "values.yaml": _VALUES,
        "values.schema.json": json.dumps(_SCHEMA),
        "templates/configmap.yaml": _CONFIGMAP,
        "templates/deployment.yaml": _DEPLOYMENT.replace("SELECTOR", "app" if second else "app.kubernetes.io/name"),
        "templates/secret.yaml": _SECRET,
        "templates/widget.yaml": _WIDGET,
        "templates/NOTES.txt": "Installed {{ .Release.Name }}.\n",
        "crds/widgets.yaml": _CRD.replace("EXTRA", "\n                color: {type: string}" if second else ""),
        "charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
        "charts/sub/values.yaml": "note: sub-default\n",
        "charts/sub/templates/configmap.yaml": _SUB_CONFIGMAP,
    }
    for path, text in files.items():
        (chart / path).parent.mkdir(parents=True, exist_ok=True)
        (chart / path).write_text(text)
    return chart


def packaged(root: Path, version: str) -> bytes:
    """The chart at `version`, packaged by the Helm SDK (`demo-<version>.tgz`)."""
    out = root / "packages"
    out.mkdir(parents=True, exist_ok=True)
    return Path(package_chart(str(write_chart(root, version)), str(out))).read_bytes()


def index_yaml(base_url: str, archives: dict[str, bytes], digests: dict[str, str] | None = None) -> bytes:
    """A Helm repository index listing `demo` at each version of `archives` (served as /demo-<version>.tgz)."""
    lines = ["apiVersion: v1", "entries:", "  demo:"]
    for version, data in archives.items():
        digest = (digests or {}).get(version) or hashlib.sha256(data).hexdigest()
        lines += [
            f"    - name: demo\n      version: {version}\n      created: '2024-01-01T00:00:00Z'",
            f"      digest: '{digest}'\n      urls: ['{base_url}/demo-{version}.tgz']",
        ]
    return ("\n".join(lines) + "\n").encode()
