/**
 * grpc.health.v1 for probes: SERVING while the gateway takes calls, NOT_SERVING once it drains.
 * Watch sends the current status at once and every change after it.
 */
import { BehaviorSubject, distinctUntilChanged, map, of } from "rxjs";
import type { Handler } from "./pipeline/element.js";
import { type HealthCheckRequest, type HealthCheckResponse, HealthCheckResponse_ServingStatus as Status } from "../generated/nsm/health.js";

export interface Health {
  check: Handler<HealthCheckRequest, HealthCheckResponse>;
  watch: Handler<HealthCheckRequest, HealthCheckResponse>;
  setServing(serving: boolean): void;
}

export function createHealth(): Health {
  const serving$ = new BehaviorSubject(true);
  const status = (serving: boolean): HealthCheckResponse => ({ status: serving ? Status.SERVING : Status.NOT_SERVING });
  return {
    check: () => of(status(serving$.value)),
    watch: () => serving$.pipe(distinctUntilChanged(), map(status)),
    setServing: serving => serving$.next(serving),
  };
}
