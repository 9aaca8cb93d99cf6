import { SessionStore } from "effect-session"
import { storeContract } from "./store-contract.js"

storeContract("memory", () => SessionStore.layerMemory)
