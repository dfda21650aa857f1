"""The flash diagnostic as a document: an HTML report (the advisors' page) and an A4 PDF, both from the same
diagnostic, narrative and competition map.

The HTML charts and map are inline SVG written here (no JavaScript, no tile server); the PDF is drawn with
matplotlib, with its fonts (DejaVu Sans) embedded as TrueType.
"""

from __future__ import annotations

import io
import textwrap
from html import escape

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from models.site_potential.diagnose import Diagnostic, format_fr
from models.site_potential.geometry import CompetitionMap
from models.site_potential.indicators import Indicator
from models.site_potential.narrative import Narrative

RISK_COLOURS = {"faible": "#1a7f37", "modéré": "#b35900", "élevé": "#b42318"}
FAMILIES_FR = ("démographie", "concurrence", "dynamisme", "pérennité")
SOURCES_FR = (
    "Chances de survie : modèle appris sur les créations et fermetures d'établissements du fichier SIRENE "
    "ingéré.",
    "Contours des communes : IGN Admin Express COG 2018 (Licence Ouverte), simplifiés.",
    "Activités : nomenclature NAF rév. 2 (INSEE) et liste des activités artisanales (décret n° 98-247).",
)


def sources_fr(diagnostic: Diagnostic) -> list[str]:
    """The sources of the report: those of its figures (with their year), then the model, maps and codes."""
    return list(diagnostic.sources) + list(SOURCES_FR)


def provenance(indicator: Indicator) -> str:
    """Where a row's figures come from and what its references are, in one line an advisor reads."""
    parts = [f"Source : {indicator.source}", indicator.reference]
    if indicator.reference_source:
        parts.append(f"France : {indicator.reference_source}")
    if indicator.note:
        parts.append(indicator.note)
    return " · ".join(parts)


SHORT_UNITS = {"habitants": "hab.", "pour 10 000 habitants": "/10 000 hab.", "établissements": ""}


def legend_labels(cmap: CompetitionMap) -> list[str]:
    """Legend of the density classes: `aucun`, then `≤ a`, `a–b`..."""
    labels = ["aucun"]
    for lower, upper in zip(cmap.breaks[:-1], cmap.breaks[1:], strict=True):
        labels.append(f"{format_fr(lower)}–{format_fr(upper)}" if lower > 0 else f"≤ {format_fr(upper)}")
    return labels


def _bounds(cmap: CompetitionMap) -> float:
    return cmap.radius_km * 1.08


def svg_map(cmap: CompetitionMap, width: int = 520) -> str:
    """The competition map as inline SVG: communes shaded by density, the project's commune outlined, the
    20 km circle, a legend and a scale. Each commune has a tooltip (name and density)."""
    half = _bounds(cmap)
    scale = width / (2 * half)
    legend_height = 72

    def point(x: float, y: float) -> str:
        return f"{(x + half) * scale:.1f},{(half - y) * scale:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {width + legend_height}" '
        f'role="img" aria-label="Carte de la concurrence à 20 km" class="carte">',
        f'<rect x="0" y="0" width="{width}" height="{width}" fill="#f8fafc"/>',
        f'<clipPath id="cadre"><rect x="0" y="0" width="{width}" height="{width}"/></clipPath>',
        '<g clip-path="url(#cadre)">',
    ]
    for area in cmap.areas:
        path = " ".join("M" + " L".join(point(x, y) for x, y in ring) + " Z" for ring in area.rings)
        stroke = (
            'stroke="#111827" stroke-width="2.5"'
            if area.is_project
            else 'stroke="#ffffff" stroke-width="0.6"'
        )
        density = "n.d." if area.density is None else format_fr(area.density)
        parts.append(
            f'<path d="{path}" fill="{area.colour}" {stroke} fill-rule="evenodd">'
            f"<title>{escape(area.name)} : {density} concurrents pour 10 000 habitants</title></path>"
        )
    radius = cmap.radius_km * scale
    centre = point(0, 0).split(",")
    parts.append(
        f'<circle cx="{centre[0]}" cy="{centre[1]}" r="{radius:.1f}" fill="none" stroke="#475569" '
        'stroke-dasharray="6 4" stroke-width="1.2"/>'
    )
    if cmap.marker is not None:
        mx, my = point(*cmap.marker).split(",")
        parts.append(f'<circle cx="{mx}" cy="{my}" r="6" fill="#111827" stroke="#fff" stroke-width="2"/>')
    parts.append("</g>")
    bar = 10 * scale
    parts.append(
        f'<g font-family="DejaVu Sans, Arial, sans-serif" font-size="12" fill="#111827">'
        f'<line x1="12" y1="{width - 14}" x2="{12 + bar:.1f}" y2="{width - 14}" '
        'stroke="#111827" stroke-width="3"/>'
        f'<text x="12" y="{width - 20}">10 km</text>'
    )
    x = 0.0
    box = width / len(cmap.colours)
    for colour, label in zip(cmap.colours, legend_labels(cmap), strict=True):
        parts.append(f'<rect x="{x:.1f}" y="{width + 8}" width="{box:.1f}" height="14" fill="{colour}"/>')
        parts.append(f'<text x="{x + 2:.1f}" y="{width + 36}">{escape(label)}</text>')
        x += box
    parts.append(
        f'<text x="0" y="{width + 52}">{escape(cmap.legend_title)}</text>'
        f'<text x="0" y="{width + 68}">Trait épais : la commune du projet · cercle : 20 km</text></g></svg>'
    )
    return "".join(parts)


def svg_bars(indicator: Indicator, width: int = 180) -> str:
    """A small bar chart: the commune's value next to the département's and the nation's."""
    values = [
        ("commune", indicator.value, "#2563eb"),
        ("département", indicator.departement_value, "#94a3b8"),
        ("France", indicator.national_value, "#cbd5e1"),
    ]
    finite = [abs(v) for _, v, _ in values if v is not None and np.isfinite(v)]
    top = max(finite) if finite and max(finite) > 0 else 1.0
    rows = []
    for i, (label, value, colour) in enumerate(values):
        length = 0.0 if value is None else abs(value) / top * (width - 70)
        rows.append(
            f'<rect x="70" y="{i * 14 + 2}" width="{length:.1f}" height="10" fill="{colour}"/>'
            f'<text x="0" y="{i * 14 + 11}">{label}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 44" width="{width}" height="44" '
        f'font-family="DejaVu Sans, Arial, sans-serif" font-size="10" fill="#334155" aria-hidden="true">'
        + "".join(rows)
        + "</svg>"
    )


def _value(indicator: Indicator, value: float | None) -> str:
    return escape(format_fr(value, indicator.unit))


def report_html(diagnostic: Diagnostic, text: Narrative, cmap: CompetitionMap | None, pdf_url: str) -> str:
    """The report as an HTML fragment (an `<article>`), in French."""
    risk_colour = RISK_COLOURS.get(diagnostic.risk_level, "#334155")
    survival_rows = "".join(
        f"<tr><td>{s.horizon_years} ans</td><td><strong>{format_fr(s.probability * 100, '%')}</strong></td>"
        f"<td>{format_fr(None if s.departement_observed is None else s.departement_observed * 100, '%')}</td>"
        f"<td>{format_fr(None if s.national_observed is None else s.national_observed * 100, '%')}</td></tr>"
        for s in diagnostic.survival
    )
    families = []
    for family in FAMILIES_FR:
        rows = [i for i in diagnostic.indicators if i.family == family]
        if not rows:
            continue
        body = "".join(
            f'<tr><th scope="row" title="{escape(i.definition)}">{escape(i.label)}'
            f'<br><small class="provenance">{escape(provenance(i))}</small></th>'
            f"<td><strong>{_value(i, i.value)}</strong></td><td>{_value(i, i.departement_value)}</td>"
            f"<td>{_value(i, i.national_value)}</td><td>{svg_bars(i)}</td></tr>"
            for i in rows
        )
        families.append(
            f"<h3>{escape(family.capitalize())}</h3><table class='indicateurs'><thead><tr><th>Indicateur</th>"
            f"<th>Commune</th><th>Département</th><th>France</th><th>Comparaison</th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )

    def items(sentences: list[str]) -> str:
        return "".join(f"<li>{escape(s)}</li>" for s in sentences) or "<li>Aucun écart net.</li>"

    warning = (
        "<p class='alerte'>Données de démonstration : établissements SIMULÉS au format SIRENE.</p>"
        if diagnostic.synthetic_data
        else ""
    )
    map_html = (
        svg_map(cmap)
        if cmap is not None
        else "<p>Pas de contour pour cette commune (collectivité d'outre-mer) : carte non tracée.</p>"
    )
    return f"""<article class="rapport" id="rapport">
<header>
<h2>{escape(diagnostic.naf_label)} <span class="code">{escape(diagnostic.naf_code)}</span>
à {escape(diagnostic.commune_name)} <span class="code">{escape(diagnostic.commune_code)}</span></h2>
<p>Département {escape(diagnostic.departement_code)}
· données au {escape(_date_fr(diagnostic.reference_date))}
· activité {"artisanale" if diagnostic.artisan_activity else "hors liste artisanale"}</p>
{warning}
<p class="risque" style="border-color:{risk_colour}"><span style="background:{risk_colour}">Risque
{escape(diagnostic.risk_level)}</span> {escape(diagnostic.risk_summary)}</p>
<p><a class="bouton" href="{escape(pdf_url)}" download>Télécharger le PDF</a></p>
</header>
<section><h3>Chances de survie</h3>
<table class="survie"><thead><tr><th>Horizon</th><th>Ce projet (modèle)</th>
<th>Observé dans le département</th><th>Observé en France</th></tr></thead>
<tbody>{survival_rows}</tbody></table></section>
<section class="colonnes"><div><h3>Concurrence autour de la commune</h3>{map_html}</div>
<div><h3>En bref</h3><p>{escape(text.summary)}</p>
<h4>Atouts</h4><ul>{items([s.text for s in text.strengths])}</ul>
<h4>Risques</h4><ul>{items([s.text for s in text.risks])}</ul>
<h4>Points à vérifier avec le porteur de projet</h4>
<ul>{items([s.text for s in text.checks])}</ul></div></section>
<section><h3>Indicateurs</h3>{"".join(families)}</section>
<section class="sources"><h3>Sources et limites</h3><ul>{items(sources_fr(diagnostic))}</ul>
<ul>{items(text.limits)}</ul></section>
</article>"""


def _date_fr(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def report_pdf(diagnostic: Diagnostic, text: Narrative, cmap: CompetitionMap | None) -> bytes:
    """The report as an A4 PDF (3 pages), fonts embedded."""
    a4 = (8.27, 11.69)
    out = io.BytesIO()
    with (
        matplotlib.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans", "font.size": 9}),
        PdfPages(
            out, metadata={"Title": f"Diagnostic flash {diagnostic.naf_code} {diagnostic.commune_name}"}
        ) as pdf,
    ):
        # Page 1: the project, the risk, survival and the map.
        fig = Figure(figsize=a4)
        _header(fig, diagnostic)
        colour = RISK_COLOURS.get(diagnostic.risk_level, "#334155")
        fig.text(0.07, 0.855, f"Risque {diagnostic.risk_level}", fontsize=14, weight="bold", color=colour)
        _paragraph(fig, 0.07, 0.835, diagnostic.risk_summary, width=95)
        ax = fig.add_axes((0.1, 0.6, 0.8, 0.17))
        horizons = [f"{s.horizon_years} ans" for s in diagnostic.survival]
        series: list[tuple[str, list[float | None], str]] = [
            ("Ce projet (modèle)", [s.probability for s in diagnostic.survival], "#2563eb"),
            ("Observé département", [s.departement_observed for s in diagnostic.survival], "#94a3b8"),
            ("Observé France", [s.national_observed for s in diagnostic.survival], "#cbd5e1"),
        ]
        for k, (label, values, bar_colour) in enumerate(series):
            xs = np.arange(len(horizons)) + (k - 1) * 0.25
            heights = [np.nan if v is None else v * 100 for v in values]
            bars = ax.bar(xs, heights, width=0.24, label=label, color=bar_colour)
            ax.bar_label(
                bars, labels=[format_fr(h, "%") if np.isfinite(h) else "n.d." for h in heights], fontsize=7
            )
        ax.set_xticks(np.arange(len(horizons)), horizons)
        ax.set_ylim(0, 110)
        ax.set_ylabel("% d'établissements encore actifs")
        ax.set_title("Chances de survie", loc="left", fontsize=11, weight="bold")
        ax.legend(loc="upper right", fontsize=7, frameon=False, ncols=3)
        ax.spines[["top", "right"]].set_visible(False)
        map_ax = fig.add_axes((0.12, 0.08, 0.76, 0.46))
        map_ax.set_title(
            "Concurrence à 20 km (établissements pour 10 000 habitants)",
            loc="left",
            fontsize=11,
            weight="bold",
        )
        if cmap is None:
            map_ax.text(0.5, 0.5, "Pas de contour pour cette commune : carte non tracée.", ha="center")
            map_ax.set_axis_off()
        else:
            _draw_map(map_ax, cmap)
        pdf.savefig(fig)

        # Page 2: the text.
        fig = Figure(figsize=a4)
        _header(fig, diagnostic)
        y = 0.85
        y = _section(fig, y, "En bref", [text.summary])
        y = _section(fig, y, "Atouts", [s.text for s in text.strengths] or ["Aucun écart net."], bullet=True)
        y = _section(fig, y, "Risques", [s.text for s in text.risks] or ["Aucun écart net."], bullet=True)
        y = _section(
            fig, y, "Points à vérifier avec le porteur de projet", [s.text for s in text.checks], bullet=True
        )
        pdf.savefig(fig)

        # Page 3: the indicators, sources and limits.
        fig = Figure(figsize=a4)
        _header(fig, diagnostic)
        _indicator_table(fig, diagnostic.indicators)
        y = _section(fig, 0.25, "Sources", sources_fr(diagnostic), bullet=True, size=6.5)
        _section(fig, y, "Limites", text.limits, bullet=True, size=6.5)
        pdf.savefig(fig)
    return out.getvalue()


def _header(fig: Figure, diagnostic: Diagnostic) -> None:
    fig.text(0.07, 0.955, "Diagnostic flash d'implantation", fontsize=16, weight="bold")
    fig.text(
        0.07,
        0.93,
        f"{diagnostic.naf_label} ({diagnostic.naf_code}) à {diagnostic.commune_name} "
        f"({diagnostic.commune_code}, département {diagnostic.departement_code})",
        fontsize=10,
    )
    note = f"Données au {_date_fr(diagnostic.reference_date)}"
    if diagnostic.synthetic_data:
        note += " · DONNÉES DE DÉMONSTRATION (établissements simulés)"
    fig.text(0.07, 0.912, note, fontsize=8, color="#b42318" if diagnostic.synthetic_data else "#475569")


def _paragraph(fig: Figure, x: float, y: float, text: str, width: int = 100, size: float = 9) -> float:
    lines = textwrap.wrap(text, width=width)
    for line in lines:
        fig.text(x, y, line, fontsize=size)
        y -= size * 0.0019
    return y


def _section(
    fig: Figure, y: float, title: str, sentences: list[str], bullet: bool = False, size: float = 9
) -> float:
    fig.text(0.07, y, title, fontsize=11, weight="bold")
    y -= 0.022
    for sentence in sentences:
        if bullet:
            fig.text(0.075, y, "•", fontsize=size)
        y = _paragraph(fig, 0.09 if bullet else 0.07, y, sentence, width=int(100 * 9 / size), size=size)
        y -= 0.006
    return y - 0.012


def _indicator_table(fig: Figure, indicators: list[Indicator]) -> None:
    fig.text(0.07, 0.87, "Indicateurs", fontsize=11, weight="bold")
    columns = (0.07, 0.45, 0.58, 0.71)
    for x, title in zip(columns, ("Indicateur", "Commune", "Département", "France"), strict=True):
        fig.text(x, 0.845, title, fontsize=8, weight="bold")
    y = 0.825
    for indicator in indicators:
        values = (indicator.value, indicator.departement_value, indicator.national_value)
        fig.text(columns[0], y, textwrap.shorten(indicator.label, 58), fontsize=7.5)
        fig.text(
            columns[0], y - 0.011, textwrap.shorten(provenance(indicator), 150), fontsize=5.5, color="#475569"
        )
        for x, value in zip(columns[1:], values, strict=True):
            fig.text(x, y, format_fr(value, SHORT_UNITS.get(indicator.unit, indicator.unit)), fontsize=7.5)
        finite = [abs(v) for v in values if v is not None and np.isfinite(v)]
        top = max(finite) if finite and max(finite) > 0 else 1.0
        for k, (value, colour) in enumerate(zip(values, ("#2563eb", "#94a3b8", "#cbd5e1"), strict=True)):
            length = 0.0 if value is None else abs(value) / top * 0.1
            fig.patches.append(_rect(fig, 0.85, y + 0.009 - k * 0.0045, length, 0.0035, colour))
        y -= 0.04


def _rect(fig: Figure, x: float, y: float, width: float, height: float, colour: str) -> Rectangle:
    return Rectangle((x, y), width, height, transform=fig.transFigure, figure=fig, color=colour)


def _draw_map(ax: Axes, cmap: CompetitionMap) -> None:
    polygons, colours, widths, edges = [], [], [], []
    for area in cmap.areas:
        for ring in area.rings:
            polygons.append(ring)
            colours.append(area.colour)
            widths.append(1.6 if area.is_project else 0.3)
            edges.append("#111827" if area.is_project else "#ffffff")
    ax.add_collection(PolyCollection(polygons, facecolors=colours, edgecolors=edges, linewidths=widths))
    theta = np.linspace(0, 2 * np.pi, 200)
    ax.plot(cmap.radius_km * np.cos(theta), cmap.radius_km * np.sin(theta), "--", color="#475569", lw=0.8)
    if cmap.marker is not None:
        ax.plot(*cmap.marker, "o", color="#111827", markersize=6)
    half = _bounds(cmap)
    ax.set_xlim(-half, half)
    ax.set_ylim(-half, half)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.plot([-half + 1, -half + 11], [-half + 1, -half + 1], color="#111827", lw=2)
    ax.text(-half + 1, -half + 1.8, "10 km", fontsize=7)
    handles = [
        Patch(facecolor=colour, edgecolor="#94a3b8", label=label)
        for colour, label in zip(cmap.colours, legend_labels(cmap), strict=True)
    ]
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncols=5, fontsize=7, frameon=False
    )
