"""Docstrings of public objects are valid reStructuredText after numpy-style processing, so the
documentation site (docs/, built by .ci/run with warnings as errors) renders them. This is the fast
check (docutils only) of what Sphinx would warn about; run it after editing a docstring."""

import inspect
import io

import pytest
from _public_api import public_objects

pytest.importorskip("docutils")
napoleon = pytest.importorskip("sphinx.ext.napoleon")

import docutils.nodes
import docutils.parsers.rst
from docutils.core import publish_doctree
from docutils.parsers.rst import directives, roles


class _SphinxDirective(docutils.parsers.rst.Directive):
    """Stands for the Sphinx directives napoleon emits (``.. attribute::``): checks the body."""

    has_content = True
    optional_arguments = 10
    final_argument_whitespace = True
    option_spec = None

    def run(self):
        node = docutils.nodes.container()
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


for _directive in ("attribute", "method", "function", "data"):
    directives.register_directive(_directive, _SphinxDirective)

for _role in ("func", "class", "meth", "mod", "data", "attr", "obj", "exc", "doc", "math"):
    roles.register_generic_role(_role, docutils.nodes.literal)

OBJECTS = public_objects()


def rst_problems(obj) -> str:
    doc = inspect.getdoc(obj)
    if not doc:
        return ""
    config = napoleon.Config(napoleon_numpy_docstring=True, napoleon_google_docstring=False, napoleon_use_rtype=False)
    text = str(napoleon.NumpyDocstring(doc, config, what="class" if inspect.isclass(obj) else "function"))
    stream = io.StringIO()
    publish_doctree(text, settings_overrides={"warning_stream": stream, "report_level": 2, "halt_level": 5})
    return stream.getvalue()


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_docstring_is_valid_rst(name):
    problems = rst_problems(OBJECTS[name])
    assert not problems, f"{name}: the docstring does not render:\n{problems}"
