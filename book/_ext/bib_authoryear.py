"""Author-year labels in the bibliography, to match the author-year citations in the text.

sphinxcontrib-bibtex cites as "Qu et al., 2025" (``bibtex_reference_style: author_year``) but
labels the list with the formatting style's labels ("[QCC+25]" for pybtex's alpha style). This
registers a pybtex style, ``authoryear``: pybtex's ``plain`` (sorted by author, year, title) with
labels written like the citations.
"""

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _last(person) -> str:
    return Text.from_latex(" ".join(person.last_names)).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            if len(people) == 0:
                who = entry.key
            elif len(people) == 1:
                who = _last(people[0])
            elif len(people) == 2:
                who = f"{_last(people[0])} and {_last(people[1])}"
            else:
                who = f"{_last(people[0])} et al."
            yield f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabelStyle


register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabelStyle)
register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
