/**
 * fastify 5 + @fastify/cookie + @fastify/session with its default store.
 */
import fastifyCookie from "@fastify/cookie"
import fastifySession from "@fastify/session"
import Fastify from "fastify"

declare module "fastify" {
  interface Session {
    counter?: number
  }
}

export const start = async (port: number) => {
  const app = Fastify({ logger: false })
  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret: "a secret with minimum length of 32 characters",
    saveUninitialized: false,
    cookie: { secure: false, maxAge: 30 * 60_000, sameSite: "lax" }
  })
  app.get("/", async (request, reply) => {
    const counter = (request.session.get("counter") ?? 0) + 1
    request.session.set("counter", counter)
    return reply.type("text/plain").send(String(counter))
  })
  await app.listen({ port, host: "127.0.0.1" })
}
