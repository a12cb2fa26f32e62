/** The header a test double sets on its answers, which the R4 guard (r4-guard.ts) then leaves alone: they are not the gateway's. */
export const NOT_THE_GATEWAY = 'x-not-the-gateway';
