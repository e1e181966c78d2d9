// The live room's entry point (an ES module: CSP allows scripts from 'self' only).
import { startRoom } from "./room/main.js";

startRoom(document);
