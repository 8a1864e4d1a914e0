/**
 * Crash safety on the embedded store (issue 11): the scenario of crash-scenario.ts, kill -9 of
 * `amsd serve` under concurrent writes, on a data directory that holds the state.
 */
import t from 'tap';
import { crashScenario, embeddedTarget } from './crash-scenario.js';

crashScenario(t, embeddedTarget);
