/**
 * Options read through `Config`, keeping only those that were given: with
 * `exactOptionalPropertyTypes` an absent option must be absent, not `undefined`. Values are left as
 * read; the layer validates them, with the same typed errors as options given in code.
 *
 * @internal
 */
export const givenOptions = <Options>(raw: { readonly [name: string]: unknown }): Options => {
  const options: { [name: string]: unknown } = {}
  for (const [name, value] of Object.entries(raw)) if (value !== undefined) options[name] = value
  return options as Options
}
