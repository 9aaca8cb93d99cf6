/**
 * The expiry rule, decided here once and called by the manager, the stores, the HTTP layer's
 * `Max-Age` and the Redis TTL check. A session expires when it is older than its absolute lifetime
 * (`expiresAt <= now`) or unused for its kind's idle limit (`now - lastUsedAt >= idle`); both
 * bounds are inclusive. Policies are in milliseconds, `Infinity` meaning off.
 *
 * @internal
 */
import type * as Session from "../Session.js"
import type * as SessionStore from "../SessionStore.js"

/** @internal */
export type Limit = "Idle" | "Absolute"

/** The idle limit of a session's kind. @internal */
export const idleOf = (policy: SessionStore.Policy, principal: Session.Principal): number =>
  principal.anonymous ? policy.idle.anonymous : policy.idle.authenticated

/** The horizons at `now`, as stores receive them. @internal */
export const cutoffAt = (policy: SessionStore.Policy, now: number): SessionStore.Cutoff => ({
  now,
  idleBefore: { anonymous: now - policy.idle.anonymous, authenticated: now - policy.idle.authenticated }
})

/** Whether a record is expired at `cutoff` (what every store checks in its atomic step). @internal */
export const isExpired = (record: Session.Record, cutoff: SessionStore.Cutoff): boolean =>
  (record.expiresAt !== null && record.expiresAt <= cutoff.now) ||
  record.lastUsedAt <= (record.principal.anonymous ? cutoff.idleBefore.anonymous : cutoff.idleBefore.authenticated)

/** Which limit a record has hit at `now`, if any (absolute first). @internal */
export const limitOf = (record: Session.Record, policy: SessionStore.Policy, now: number): Limit | undefined =>
  record.expiresAt !== null && record.expiresAt <= now
    ? "Absolute"
    : now - record.lastUsedAt >= idleOf(policy, record.principal)
    ? "Idle"
    : undefined

/** When a record expires if it is not used again (`Infinity`: never). @internal */
export const deadlineOf = (record: Session.Record, policy: SessionStore.Policy): number =>
  Math.min(record.lastUsedAt + idleOf(policy, record.principal), record.expiresAt ?? Infinity)

/** A lookup at `now` writes `lastUsedAt` only when the stored one is at or before this instant. @internal */
export const touchBefore = (policy: SessionStore.Policy, now: number): number => now - policy.touchInterval
