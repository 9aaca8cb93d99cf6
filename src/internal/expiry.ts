/**
 * The expiry policy, decided here once and called by the manager, the stores, the HTTP layer's
 * `Max-Age` and the stores' own TTL checks. A session expires when it is older than its absolute
 * lifetime (`expiresAt <= now`) or unused for its kind's idle limit (`now - lastUsedAt >= idle`);
 * both bounds are inclusive. A lookup writes `lastUsedAt` only when it would advance by at least
 * the touch interval, so idle expiry may come up to one interval early, never late. Policies are
 * in milliseconds, `Infinity` meaning off.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import type * as Session from "../Session.js"
import type * as SessionStore from "../SessionStore.js"

/** @internal */
export type Limit = "Idle" | "Absolute"

/** The idle limit of a session's kind. @internal */
export const idleOf = (policy: SessionStore.Policy, principal: Session.Principal): number =>
  principal.anonymous ? policy.idle.anonymous : policy.idle.authenticated

/** The shorter of the two idle limits. @internal */
export const shortestIdle = (policy: SessionStore.Policy): number =>
  Math.min(policy.idle.anonymous, policy.idle.authenticated)

/** The horizons at `now`, as stores receive them. @internal */
export const cutoffAt = (policy: SessionStore.Policy, now: number): SessionStore.Cutoff => ({
  now,
  idleBefore: { anonymous: now - policy.idle.anonymous, authenticated: now - policy.idle.authenticated }
})

/** A cutoff at which everything is expired (shutdown of a non-persistent store). @internal */
export const everything: SessionStore.Cutoff = {
  now: Infinity,
  idleBefore: { anonymous: Infinity, authenticated: Infinity }
}

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

/** The absolute end of a session created at `createdAt` (`null`: no absolute lifetime). @internal */
export const expiresAtFrom = (policy: SessionStore.Policy, createdAt: number): number | null =>
  policy.absolute === Infinity ? null : createdAt + policy.absolute

/** A lookup at `now` writes `lastUsedAt` only when the stored one is at or before this instant. @internal */
export const touchBefore = (policy: SessionStore.Policy, now: number): number => now - policy.touchInterval

/** The touch interval a policy gets by default: the shorter of 1 minute and a tenth of the shortest idle limit. @internal */
export const defaultTouchInterval = (idle: SessionStore.Policy["idle"]): number =>
  Math.max(1, Math.min(60_000, Math.min(idle.anonymous, idle.authenticated) / 10))

/**
 * Why a policy cannot work, if it cannot: a touch interval of half the shortest idle limit or more
 * would let idle expiry come that much early.
 *
 * @internal
 */
export const policyProblem = (
  policy: SessionStore.Policy
): { readonly option: string; readonly reason: string } | undefined => {
  const idle = shortestIdle(policy)
  if (policy.touchInterval >= idle / 2) {
    return {
      option: "touchInterval",
      reason: `must be under half the shortest idle limit (${Duration.format(Duration.millis(idle))}), got ${
        Duration.format(Duration.millis(policy.touchInterval))
      }; idle expiry may come up to one interval early`
    }
  }
  return undefined
}

/**
 * How long a rotated-away key keeps leading to its successor, so that a logout racing a rotation
 * still closes what the session became: one hour, or the absolute lifetime if that is shorter (no
 * session outlives it, so the link lasts at least as long as the shorter of the grace and what is
 * left of the session's lifetime).
 *
 * @internal
 */
export const LINK_GRACE = 60 * 60 * 1000

/** The instant until which a key rotated away at `now` leads to its successor (see `LINK_GRACE`). @internal */
export const linkUntil = (policy: SessionStore.Policy, now: number): number =>
  now + Math.min(LINK_GRACE, policy.absolute)
