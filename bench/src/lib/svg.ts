/**
 * Self-made SVG charts (no external service, no dependency): horizontal bar panels and a log-log
 * line chart.
 */

const escape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

// no red in the palette: red is ours
const palette = ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#17becf", "#8c8c8c", "#bcbd22"]
const OURS = "#d62728"
const font = `font-family="Helvetica, Arial, sans-serif"`

const fmt = (value: number): string =>
  value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)

export interface Bar {
  readonly label: string
  readonly value: number | undefined
  /** Drawn in the highlight colour (ours). */
  readonly highlight?: boolean
}

export interface Panel {
  readonly title: string
  readonly unit: string
  readonly bars: ReadonlyArray<Bar>
}

/** Panels of horizontal bars sharing the row labels, side by side. */
export const barPanels = (title: string, subtitle: string, panels: ReadonlyArray<Panel>): string => {
  const rows = panels[0]?.bars.length ?? 0
  // about 6.6 px per character of 12 px Helvetica
  const labelWidth = Math.max(
    200,
    Math.ceil(Math.max(...(panels[0]?.bars ?? []).map((b) => b.label.length)) * 6.6) + 24
  )
  const panelWidth = 230
  const rowHeight = 26
  const top = 70
  const width = labelWidth + panels.length * (panelWidth + 20) + 10
  const height = top + rows * rowHeight + 30
  const out: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" ${font} font-size="16" font-weight="bold">${escape(title)}</text>`,
    `<text x="10" y="40" ${font} font-size="11" fill="#555">${escape(subtitle)}</text>`
  ]
  panels[0]?.bars.forEach((bar, i) => {
    const y = top + i * rowHeight + rowHeight / 2 + 4
    out.push(
      `<text x="${labelWidth - 8}" y="${y}" ${font} font-size="12" text-anchor="end"${
        bar.highlight ? ` font-weight="bold" fill="${OURS}"` : ""
      }>${escape(bar.label)}</text>`
    )
  })
  panels.forEach((panel, p) => {
    const x0 = labelWidth + p * (panelWidth + 20)
    const max = Math.max(...panel.bars.map((bar) => bar.value ?? 0), 1e-9)
    out.push(
      `<text x="${x0}" y="${top - 10}" ${font} font-size="12" font-weight="bold">${escape(panel.title)} (${
        escape(panel.unit)
      })</text>`
    )
    out.push(`<line x1="${x0}" y1="${top}" x2="${x0}" y2="${top + rows * rowHeight}" stroke="#999"/>`)
    panel.bars.forEach((bar, i) => {
      const y = top + i * rowHeight + 4
      if (bar.value === undefined || !Number.isFinite(bar.value)) {
        out.push(`<text x="${x0 + 4}" y="${y + 14}" ${font} font-size="11" fill="#999">not measured</text>`)
        return
      }
      const w = Math.max(1, ((panelWidth - 50) * bar.value) / max)
      out.push(
        `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${rowHeight - 8}" fill="${
          bar.highlight ? OURS : palette[0]
        }"/>`,
        `<text x="${(x0 + w + 4).toFixed(1)}" y="${y + 14}" ${font} font-size="11">${fmt(bar.value)}</text>`
      )
    })
  })
  out.push("</svg>")
  return out.join("\n")
}

export interface Series {
  readonly label: string
  readonly points: ReadonlyArray<readonly [number, number]>
  readonly highlight?: boolean
  readonly dashed?: boolean
}

const log10 = (v: number) => Math.log10(Math.max(v, 1e-12))

/** A line chart with logarithmic axes. */
export const logLogChart = (
  title: string,
  subtitle: string,
  xLabel: string,
  yLabel: string,
  series: ReadonlyArray<Series>
): string => {
  const width = 760
  const height = 440
  const left = 70
  const right = 250
  const top = 60
  const bottom = 50
  const xs = series.flatMap((s) => s.points.map((p) => p[0]))
  const ys = series.flatMap((s) => s.points.map((p) => p[1]))
  const xMin = Math.floor(log10(Math.min(...xs)))
  const xMax = Math.max(xMin + 1, Math.ceil(log10(Math.max(...xs))))
  const yMin = Math.floor(log10(Math.min(...ys)))
  const yMax = Math.max(yMin + 1, Math.ceil(log10(Math.max(...ys))))
  const plotW = width - left - right
  const plotH = height - top - bottom
  const px = (x: number) => left + ((log10(x) - xMin) / (xMax - xMin)) * plotW
  const py = (y: number) => top + plotH - ((log10(y) - yMin) / (yMax - yMin)) * plotH
  const out: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" ${font} font-size="16" font-weight="bold">${escape(title)}</text>`,
    `<text x="10" y="40" ${font} font-size="11" fill="#555">${escape(subtitle)}</text>`
  ]
  for (let e = xMin; e <= xMax; e++) {
    const x = px(10 ** e)
    out.push(
      `<line x1="${x}" y1="${top}" x2="${x}" y2="${top + plotH}" stroke="#eee"/>`,
      `<text x="${x}" y="${top + plotH + 16}" ${font} font-size="11" text-anchor="middle">${
        e >= 6 ? `${10 ** (e - 6)}M` : e >= 3 ? `${10 ** (e - 3)}k` : 10 ** e
      }</text>`
    )
  }
  for (let e = yMin; e <= yMax; e++) {
    const y = py(10 ** e)
    const label = e >= 6 ? `${10 ** (e - 6)} ms` : e >= 3 ? `${10 ** (e - 3)} µs` : `${10 ** e} ns`
    out.push(
      `<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#eee"/>`,
      `<text x="${left - 6}" y="${y + 4}" ${font} font-size="11" text-anchor="end">${label}</text>`
    )
  }
  out.push(
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    `<text x="${left + plotW / 2}" y="${height - 12}" ${font} font-size="12" text-anchor="middle">${
      escape(xLabel)
    }</text>`,
    `<text x="16" y="${top + plotH / 2}" ${font} font-size="12" text-anchor="middle" transform="rotate(-90 16 ${
      top + plotH / 2
    })">${escape(yLabel)}</text>`
  )
  series.forEach((s, i) => {
    const colour = s.highlight ? OURS : palette[i % palette.length]
    const path = s.points.map((p, j) => `${j === 0 ? "M" : "L"}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`)
    out.push(
      `<path d="${path.join(" ")}" fill="none" stroke="${colour}" stroke-width="${s.highlight ? 3 : 2}"${
        s.dashed ? ` stroke-dasharray="6 4"` : ""
      }/>`
    )
    for (const p of s.points) {
      out.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3.5" fill="${colour}"/>`)
    }
    const ly = top + 10 + i * 20
    out.push(
      `<line x1="${left + plotW + 15}" y1="${ly}" x2="${
        left + plotW + 40
      }" y2="${ly}" stroke="${colour}" stroke-width="3"${s.dashed ? ` stroke-dasharray="6 4"` : ""}/>`,
      `<text x="${left + plotW + 46}" y="${ly + 4}" ${font} font-size="11"${s.highlight ? ` font-weight="bold"` : ""}>${
        escape(s.label)
      }</text>`
    )
  })
  out.push("</svg>")
  return out.join("\n")
}
