"""A small, English-heavy text corpus written for the tokenization and evaluation cards.

ENGLISH is the training text for the byte-level BPE tokenizers (with a little French and German
mixed in, as web corpora have); HELD_OUT is English text never seen in training; PARALLEL is one
sentence in several languages, never seen in training, to measure what each language costs.
"""

ENGLISH = """\
The village sits at the bottom of a long valley, where the river turns west and the road follows it.
In the morning the baker opens her shop at six, and by seven there is a line of people waiting for bread.
Most of them work in the town across the river, so they buy their bread and walk to the bridge together.
The bridge was built in 1887 and repaired in 1954, after a flood carried away two of its stone arches.
Children cross it on their way to school, and the older ones race each other to the other side.
The school has four classrooms, a small library and a garden where the students grow beans and tomatoes.
Every spring the teachers take the students up the hill to look at the flowers and the birds.
Last year they counted 23 different kinds of birds, which was more than in any year before.
The farmers in the valley grow wheat, potatoes and apples, and they sell them at the market on Saturday.
The market opens at eight and closes at noon, but the best apples are usually gone by ten.
A bag of apples costs 3 euros, and a loaf of bread from the baker costs 2 euros and 40 cents.
In the evening people sit outside their houses and talk about the weather, the harvest and the news.
When it rains, they stay inside, read the newspaper or listen to the radio.
The newspaper arrives on the first bus from the city, which leaves the station at 5 in the morning.
The city is about 40 kilometres away, and the bus takes an hour and a half to get there.
Many young people moved to the city in the 1970s and 1980s to find work in the new factories.
Some of them came back when they retired, and they bought the old houses near the river.
They painted the walls, repaired the roofs and planted gardens full of roses and herbs.
Now the village is quieter than it was, but it is also cleaner and more beautiful.
Tourists come in the summer to walk in the hills, swim in the lake and eat at the small restaurant.
The restaurant serves fish from the lake, vegetables from the gardens and wine from the hills.
The owner learned to cook from his mother, who learned from her mother before her.
He says that the secret of good food is simple: fresh things, a little salt and a lot of patience.
In 2019 a newspaper in the city wrote about the restaurant, and since then it has been full every weekend.
The owner was happy at first, but now he wishes that he had more time to go fishing.
Learning a new language is hard, but it becomes easier when you read every day.
Start with short stories and simple sentences, and write down the words that you do not know.
After a few weeks you will notice that you understand more than you expected.
Listening is harder than reading, because people speak quickly and do not wait for you.
Watch films with subtitles, and then watch them again without the subtitles.
Speaking is the hardest part, because you have to think and talk at the same time.
Do not be afraid of making mistakes: everyone makes them, and most people are kind to learners.
A good teacher will correct you gently and explain why a sentence sounds wrong.
The best way to remember a word is to use it in a sentence that means something to you.
Computers have changed the way people work, learn and talk to each other.
In 1995 only a small number of homes had a computer, and even fewer were connected to the internet.
Today most people carry a small computer in their pocket and use it many times a day.
They read the news, send messages, take photographs and find their way through unknown cities.
Some people worry that we spend too much time looking at screens and not enough time outside.
Others say that the internet has made knowledge available to everyone, which is a great gift.
Both are probably right, and the question is how to use the new tools wisely.
Programmers write the instructions that computers follow, one small step at a time.
A program that sorts a list of numbers must compare them, swap them and repeat until they are in order.
Good programmers test their code carefully, because a small mistake can have large effects.
In 2023 a bug in a popular program caused problems for millions of users for several hours.
The team found the mistake, fixed it and wrote a report that explained what had gone wrong.
The weather this week has been strange: warm on Monday, cold on Tuesday and stormy on Wednesday.
On Thursday the wind was so strong that it knocked down two trees near the church.
Nobody was hurt, but the road was closed for the whole afternoon while workers cleared it.
The forecast says that the weekend will be dry and sunny, with temperatures around 18 degrees.
Farmers hope for rain next week, because the fields are dry and the river is low.
The river was at its lowest level in 2018, when it did not rain for almost three months.
Scientists say that dry summers will become more common, and that we must learn to save water.
The town has started to collect rain from the roofs of public buildings to water the parks.
Reading is one of the great pleasures of life, and a library is one of the great inventions.
The library in the town has more than 12000 books, and anyone can borrow them for free.
It opened in 1902, with money that a rich merchant left to the town when he died.
The merchant had been poor as a child and had taught himself to read with borrowed books.
He wanted every child in the town to have the chance that he had had.
Today the library also lends films, music and computers, and it offers classes for adults.
On Tuesday evenings a group of retired teachers helps children with their homework.
On Saturday mornings there is a story hour for the youngest readers and their parents.
Cooking at home is cheaper and often healthier than eating in restaurants.
A simple soup needs only onions, carrots, potatoes, water, salt and an hour of slow cooking.
Cut the vegetables into small pieces, fry the onions in a little oil and then add the rest.
Let the soup cook slowly, taste it and add more salt or pepper if it needs it.
Serve it hot with fresh bread, and keep what is left in a cold place for the next day.
Many people say that soup tastes even better on the second day, when the flavours have mixed.
Sport is good for the body and for the mind, and it does not have to be expensive.
Walking, running and swimming cost almost nothing and can be done by people of every age.
The town football club was founded in 1921, and it still plays on the same field by the river.
The team is not very good, but the players love the game and the supporters never stop singing.
Last season they won 7 games, lost 15 and played 8 draws, which the coach called an improvement.
Next season he wants to win at least 10 games and to finish in the top half of the table.
Travel teaches us that people in other places live differently but want many of the same things.
They want to be safe, to be healthy, to have work and to see their children grow up happy.
When you travel, try to learn a few words of the local language, such as hello, please and thank you.
People notice the effort, and they often answer with a smile, even if your accent is terrible.
Keep your passport, your money and your tickets in a safe place, and make a copy of your documents.
The town keeps a record of its population: 1200 people in 1900, 1450 in 1920 and 1900 in 1950.
By 1970 the number had fallen to 1600, and in 1990 it was only 1350, because the young had left.
In 2000 it rose again to 1500, in 2010 to 1650 and in 2020 to 1700, thanks to the new families.
The bus to the city leaves at 5:10, 7:30, 9:30, 12:30, 15:30 and 18:30 from Monday to Friday.
On Saturday there are buses at 8:30, 10:30 and 16:30, and on Sunday only one bus, at 10:00.
A single ticket costs 4 euros and 50 cents, a return ticket 8 euros and a monthly pass 60 euros.
Le village est au fond de la vallée, et la rivière passe à côté de la petite école.
Le matin, les enfants traversent le pont pour aller à l'école avec leurs amis.
Le marché ouvre le samedi, et les gens achètent du pain, des pommes et du fromage.
Das Dorf liegt am Ende eines langen Tals, und der Fluss fließt neben der Straße.
Am Morgen gehen die Kinder über die Brücke zur Schule, und die Bäckerin verkauft Brot.
"""

HELD_OUT = """\
The museum in the old town hall opens on weekdays at nine and on Sundays at eleven.
Its oldest painting shows the valley as it looked in 1750, with a wooden bridge and a mill.
Visitors can climb the tower and see the river, the fields and the roofs of the village below.
A ticket costs 5 euros for adults, and children under twelve can enter for free.
The museum also keeps letters, maps and photographs that families have given it over the years.
Every autumn it organises an exhibition about the history of farming in the region.
"""

# One sentence and its translations ("The weather is nice today, so we are going to the park.").
PARALLEL = {
    "English": "The weather is nice today, so we are going to the park.",
    "French": "Il fait beau aujourd'hui, alors nous allons au parc.",
    "German": "Das Wetter ist heute schön, also gehen wir in den Park.",
    "Spanish": "Hoy hace buen tiempo, así que vamos al parque.",
    "Russian": "Сегодня хорошая погода, поэтому мы идём в парк.",
    "Greek": "Ο καιρός είναι ωραίος σήμερα, οπότε πάμε στο πάρκο.",
    "Hindi": "आज मौसम अच्छा है, इसलिए हम पार्क जा रहे हैं।",
    "Chinese": "今天天气很好，所以我们去公园。",
    "Japanese": "今日は天気がいいので、公園に行きます。",
}
