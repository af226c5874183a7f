"""Writes the small YAML subset the tests need (no PyYAML dependency)."""


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if s == "" or any(c in s for c in ":#[]{},&*!|>'\"%@`") or s.strip() != s:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return s


def _emit(v, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                out.append(f"{pad}{k}:")
                _emit(x, indent + 1, out)
            else:
                out.append(f"{pad}{k}: {_scalar(x) if not isinstance(x, (dict, list)) else '[]'}")
    elif isinstance(v, list):
        for x in v:
            if isinstance(x, dict):
                first = True
                for k, y in x.items():
                    lead = f"{pad}- " if first else f"{pad}  "
                    first = False
                    if isinstance(y, (dict, list)) and y:
                        out.append(f"{lead}{k}:")
                        _emit(y, indent + 2, out)
                    else:
                        out.append(f"{lead}{k}: {_scalar(y)}")
            else:
                out.append(f"{pad}- {_scalar(x)}")


def dump(doc) -> str:
    out: list[str] = []
    _emit(doc, 0, out)
    return "\n".join(out) + "\n"
