/** The inventory contract: v2 (what scans write) and v1 (read for migration). */
export * from './schema.js';
export * from './card.js';
export { componentId } from './ids.js';
export { compareLocations, locationPath, makeLocation } from './location.js';
export { inventorySchema as inventoryV1Schema, INVENTORY_SCHEMA as INVENTORY_V1_SCHEMA, type Inventory as InventoryV1 } from './v1.js';
export { upgradeV1, type CardOf } from './upgrade.js';
