/**
 * What a run must show for every case it ran: one cell per expected measurement, each either a
 * measurement (finite numbers) or an explicit "no samples" (nothing arrived in the window, e.g. a
 * server that answered no request on a saturated machine). A missing cell or a cell with a
 * non-finite number is a bug of the harness, not noise: the run fails. Timings are never judged.
 */

export type CellState = "measured" | "no samples" | "skipped" | "missing" | "invalid"

export interface Cell {
  readonly case: string
  readonly id: string
  readonly state: CellState
  readonly detail?: string
}

/** A number of a measured cell: finite, or the cell is invalid. */
const finite = (value: unknown): boolean => typeof value === "number" && Number.isFinite(value)

/**
 * The state of one expected cell from the row that measured it (if any): `values` are the
 * numbers the report prints for it; `noSamples` says nothing arrived to measure.
 */
export const cellState = <R extends object>(
  row: R | undefined,
  values: (row: R) => ReadonlyArray<unknown>
): { readonly state: CellState; readonly detail?: string } => {
  if (row === undefined) return { state: "missing" }
  const flags = row as { readonly noSamples?: boolean; readonly skipped?: string }
  if (flags.skipped !== undefined) return { state: "skipped", detail: flags.skipped }
  if (flags.noSamples === true) return { state: "no samples" }
  const bad = values(row).filter((value) => !finite(value))
  return bad.length === 0 ? { state: "measured" } : { state: "invalid", detail: `non-finite: ${bad.join(", ")}` }
}

/** Counts by state, e.g. `12 cells: 11 measured, 1 no samples`. */
export const summarizeCells = (cells: ReadonlyArray<Cell>): string => {
  const counts = new Map<CellState, number>()
  for (const cell of cells) counts.set(cell.state, (counts.get(cell.state) ?? 0) + 1)
  return `${cells.length} cells: ${[...counts].map(([state, n]) => `${n} ${state}`).join(", ")}`
}

/** The cells that fail a run: missing or invalid always; skipped ones too under CI. */
export const failingCells = (cells: ReadonlyArray<Cell>, ci: boolean): Array<Cell> =>
  cells.filter((cell) => cell.state === "missing" || cell.state === "invalid" || (ci && cell.state === "skipped"))
