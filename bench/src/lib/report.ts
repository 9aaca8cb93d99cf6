/**
 * Markdown tables and the formatting shared by the report.
 */

/** A markdown table; `align` per column: "l" or "r". */
export const table = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  align?: ReadonlyArray<"l" | "r">
): string => {
  const sep = header.map((_, i) => ((align?.[i] ?? (i === 0 ? "l" : "r")) === "r" ? "---:" : "---"))
  return [header, sep, ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n")
}

/** A number with a sensible number of digits. */
export const num = (value: number | undefined, digits?: number): string => {
  if (value === undefined || !Number.isFinite(value)) return "–"
  if (digits !== undefined) return value.toFixed(digits)
  const abs = Math.abs(value)
  return abs >= 1000
    ? Math.round(value).toLocaleString("en-US")
    : abs >= 100
    ? value.toFixed(0)
    : abs >= 10
    ? value.toFixed(1)
    : value.toFixed(2)
}

/** A ratio such as `3.2x`. */
export const ratio = (value: number | undefined): string =>
  value === undefined || !Number.isFinite(value) ? "–" : `${num(value)}x`

/** `10k`, `100k`, `1M`. */
export const count = (n: number): string =>
  n >= 1_000_000 && n % 1_000_000 === 0
    ? `${n / 1_000_000}M`
    : n >= 1000 && n % 1000 === 0
    ? `${n / 1000}k`
    : String(n)
