import { SessionStore } from "effect-session"
import { storeContract } from "./contract/SessionStore.contract.js"

storeContract("memory", () => SessionStore.layerMemory)
