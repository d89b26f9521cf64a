// Package sampledata is the sample catalog of a small shop that Souk starts
// with: the catalog service seeds its products and prices from it, and the
// inventory service seeds their initial stock, so both agree on the same ids
// without either reading the other's database.
//
// The list is fixed at build time and read-only: callers must not modify
// Products. Among the products is the article's own example, product "4521"
// at 49.99 USD with 12 units in stock, which the public contract (API.md)
// promises.
package sampledata

// Product is one sample product: what the catalog sells and how many units
// the inventory starts with.
type Product struct {
	ID           string
	Name         string
	Description  string
	PriceCents   int64
	Currency     string
	InitialStock int64
}

// Products is the sample catalog, ordered by id. Prices are in USD cents.
var Products = []Product{
	{"4501", "Ethiopia Yirgacheffe Coffee Beans, 250 g", "Washed Ethiopian coffee with notes of jasmine, lemon and bergamot. Light roast, whole beans, roasted within the week.", 1450, "USD", 80},
	{"4502", "Colombia Huila Coffee Beans, 1 kg", "A balanced medium roast from Huila: caramel, red apple and milk chocolate. Whole beans for espresso or filter.", 3900, "USD", 40},
	{"4503", "Decaf Brazil Coffee, Ground, 250 g", "Swiss Water decaffeinated Brazilian coffee, ground for filter. Nutty and sweet, for the evening cup.", 1250, "USD", 60},
	{"4504", "Espresso Blend Coffee Beans, 500 g", "Dark roast blend of Brazil and India robusta for a thick crema and a bittersweet cocoa finish.", 2200, "USD", 50},
	{"4505", "Japanese Sencha Green Tea, 100 g", "Steamed first-flush sencha from Shizuoka. Grassy, sweet and bright; brew at 70 °C for one minute.", 1600, "USD", 70},
	{"4506", "Darjeeling First Flush Black Tea, 100 g", "Spring-picked Darjeeling with a floral, muscatel character. Loose leaf, from a single estate.", 1850, "USD", 45},
	{"4507", "Earl Grey Tea, 50 Bags", "Ceylon black tea scented with natural bergamot oil, in plastic-free pyramid bags.", 950, "USD", 120},
	{"4508", "Chamomile Herbal Tea, 80 g", "Whole Egyptian chamomile flowers for a calm, honeyed infusion without caffeine.", 890, "USD", 90},
	{"4509", "Matcha Ceremonial Grade, 30 g", "Stone-ground Uji matcha, vivid green and smooth, for whisking or lattes.", 2900, "USD", 35},
	{"4510", "Pour-Over Coffee Dripper, Ceramic", "A cone dripper in glazed porcelain that holds heat well; fits size 02 paper filters.", 2400, "USD", 30},
	{"4511", "Paper Coffee Filters, Size 02, 100 Pack", "Unbleached cone filters for pour-over drippers, rinsed of paper taste.", 600, "USD", 200},
	{"4512", "Gooseneck Kettle, 1 L, Stainless Steel", "Stovetop kettle with a slim spout for a slow, precise pour and a built-in thermometer.", 4500, "USD", 25},
	{"4513", "Burr Coffee Grinder, Manual", "Hand grinder with conical steel burrs and 40 click settings, from espresso to French press.", 8900, "USD", 15},
	{"4514", "French Press, 1 L, Glass", "Borosilicate glass French press with a four-layer stainless filter for a clean cup.", 3200, "USD", 28},
	{"4515", "Stoneware Mug, 350 ml", "A hand-glazed stoneware mug in speckled oat, dishwasher and microwave safe.", 1800, "USD", 100},
	{"4516", "Cast Iron Teapot, 800 ml", "Japanese tetsubin-style teapot with an enamelled interior and a stainless infuser.", 5400, "USD", 18},
	{"4517", "Double-Wall Glass Cups, Set of 2", "Insulated borosilicate cups that keep tea hot and hands cool; 250 ml each.", 2600, "USD", 40},
	{"4518", "Bamboo Matcha Whisk", "A hundred-prong chasen carved from a single piece of bamboo, for a fine foam.", 1900, "USD", 30},
	{"4519", "Digital Kitchen Scale, 0.1 g", "A slim scale with a timer for weighing coffee and water; reads to a tenth of a gram.", 2700, "USD", 35},
	{"4520", "Milk Frother, Handheld", "Battery-powered whisk that froths milk for cappuccinos and matcha lattes in seconds.", 1500, "USD", 60},
	{"4521", "Chef's Knife, 20 cm", "A forged stainless steel chef's knife with a full tang and a walnut handle, sharpened by hand.", 4999, "USD", 12},
	{"4522", "End-Grain Cutting Board, Walnut", "A thick end-grain board that is gentle on knife edges; oiled and ready to use.", 7500, "USD", 10},
	{"4523", "Linen Tea Towels, Set of 3", "Stonewashed linen towels that dry glasses without lint, in natural, rust and slate.", 2200, "USD", 50},
	{"4524", "Enamel Dutch Oven, 4 L", "Enamelled cast iron pot for braises, soups and bread; oven safe to 250 °C.", 11900, "USD", 8},
	{"4525", "Glass Storage Jars, Set of 4", "Airtight jars with bamboo lids for beans, leaves and spices; 500 ml each.", 3400, "USD", 40},
	{"4526", "The World Atlas of Coffee (Book)", "James Hoffmann's guide to coffee: where it grows, how it is processed, and how to brew it well.", 3500, "USD", 20},
	{"4527", "The Tea Book (Book)", "An illustrated guide to the world's teas, how to choose them and how to brew each one.", 2500, "USD", 20},
	{"4528", "Salt Fat Acid Heat (Book)", "Samin Nosrat's cookbook on the four elements of good cooking, with recipes and illustrations.", 3000, "USD", 25},
	{"4529", "Coffee Tasting Notebook", "A pocket notebook with flavour wheels and pages to log origin, roast, brew and tasting notes.", 1200, "USD", 75},
	{"4530", "Gift Card, 50 USD", "A gift card for anything in the shop, delivered by email with a personal message.", 5000, "USD", 1000},
}
