import { benchCost } from './chaos.ts';
for (const line of await benchCost()) console.log(line);
